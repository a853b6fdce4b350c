from vshell.cli import main

main()
