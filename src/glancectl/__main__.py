from glancectl.cli.main import main

main()
