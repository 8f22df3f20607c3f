print("edgemount")
