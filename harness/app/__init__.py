"""The application on top of the core and the plugins: the `bpebench` CLI, suites, search runs, the MIP experiment,
reports and the leaderboard. Nothing imports it but itself and the measurement scripts of `benchmarks/`."""
