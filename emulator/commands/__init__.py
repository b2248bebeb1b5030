"""The command line's commands, one module each: `add_parser(commands)` adds its options,
`run(args)` carries it out and returns the exit status (emulator/cli.py wires them)."""
