"""Sign-in risk: new device, new network, country and impossible travel (docs/risk.md)."""
