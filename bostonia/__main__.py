from bostonia.cli import main

main()
