import NotesServer

await NotesServerCommand.main()
