"""CloudTrail operations the emulator serves itself; moto serves trails and the rest."""

from aipctl_sim.cloudtrail import responses

SERVICE = "cloudtrail"
SIGNING_NAME = "cloudtrail"
operations = {"LookupEvents": responses.lookup_events}
