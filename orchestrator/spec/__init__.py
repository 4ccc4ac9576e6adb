"""The sweep file as typed data: YAML loading, spaces, the frozen SweepSpec."""
