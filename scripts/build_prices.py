"""Regenerate the price book that ships with aipctl: ``aipctl prices refresh --all-regions`` against the emulator.

    .venv/bin/python scripts/build_prices.py

aipctl reads its prices from the AWS Price List API; offline it uses ``src/aipctl/pricing/prices.json``,
written here by the same code from the emulator's Price List (whose numbers and their sources are in
``aipctl_sim/pricing/rates.py`` and docs/pricing.md). The model names and billing services that map Price
List products onto model ids come from the emulator's catalog (this script may read it; aipctl never does).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "aipctl" / "pricing" / "prices.json"


def main() -> int:
    from aipctl.aws.target import Target, _sim_session
    from aipctl.pricing.pricelist import fetch
    from aipctl_sim import EmulatorServer

    catalog = json.loads((ROOT / "src" / "aipctl_sim" / "bedrock" / "catalog.json").read_text())
    models = {m["modelId"]: {"name": m["modelName"], "billing_service": m["billingService"]} for m in catalog["models"]}
    server = EmulatorServer(state_dir=None).start()
    try:
        target = Target("sim", _sim_session(), "us-east-1", endpoint_url=server.endpoint_url)
        refreshed = fetch(target, None, models)
    finally:
        server.stop()
    book = refreshed.book | {"source": refreshed.book["source"] + ", shipped with aipctl (scripts/build_prices.py)"}
    OUT.write_text(json.dumps(book, indent=1, sort_keys=True) + "\n")
    parsed = refreshed.parsed
    print(f"wrote {OUT}: {len(book['models'])} models, {len(parsed.rates)} rates, {sum(parsed.unparsed.values())} unparsed")
    return 0 if not parsed.unparsed else 1


if __name__ == "__main__":
    sys.exit(main())
