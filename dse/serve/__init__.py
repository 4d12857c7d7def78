"""serve stage of the dse data flow (see ARCHITECTURE in docs/architecture.md)."""
