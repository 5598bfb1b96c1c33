from rerankrt.cli import main

raise SystemExit(main())
