"""HTTP plumbing shared by every capability's routes: error mapping and the current user."""
