import EdgeMount

EdgeMountCommand.runFromCommandLine()
