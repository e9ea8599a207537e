"""Athena operations the emulator serves itself (work groups, catalogs, named queries … stay with moto)."""

from aipctl_sim.athena import responses

SERVICE = "athena"
SIGNING_NAME = "athena"
operations = {
    "StartQueryExecution": responses.start_query_execution,
    "GetQueryExecution": responses.get_query_execution,
    "GetQueryResults": responses.get_query_results,
}
