from celeris.cli import main

main()
