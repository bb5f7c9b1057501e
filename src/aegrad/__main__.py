from aegrad.cli import run

run()
