from mentionflow.cli import main

main()
