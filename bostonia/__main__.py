from bostonia.cli import app

app(prog_name="bostonia")
