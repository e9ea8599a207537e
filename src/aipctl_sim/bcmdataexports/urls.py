"""Data Exports operations the emulator serves (moto has no bcm-data-exports)."""

from aipctl_sim.bcmdataexports import responses

SERVICE = "bcm-data-exports"
SIGNING_NAME = "bcm-data-exports"
operations = {
    "CreateExport": responses.create_export,
    "GetExport": responses.get_export,
    "ListExports": responses.list_exports,
    "DeleteExport": responses.delete_export,
    "UpdateExport": responses.update_export,
    "ListExecutions": responses.list_executions,
    "GetExecution": responses.get_execution,
    "ListTables": responses.list_tables,
    "GetTable": responses.get_table,
}
