"""The collections worklist: whom to call next (rules in `rules`, the build and the claims in
`store`), and the compliance that keeps each collection call lawful."""
