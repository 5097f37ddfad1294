"""The Stasis call flow: what happens to a call from StasisStart until it ends.

Pure decisions (opening hours, routing) live beside the adapter (`app.CallFlow`) that turns
ARI events into ACD input and ACD commands into ARI requests.
"""
