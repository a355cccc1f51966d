"""Who is in the demo's story: Alice (a rep, her Gmail), Bruno (the Slack admin), Carol (a colleague)."""
from testsupport.stack import REP

ALICE = REP
ALICE_GMAIL = "alice@gmail.example"
BRUNO = "U0ADMIN"
CAROL = "U0CAROL"
# How the printed lines name them (Slack shows `<@U…>` as @name).
NAMES = {ALICE: "alice", CAROL: "carol", BRUNO: "bruno"}
