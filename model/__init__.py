"""edbp.model: the abstract protocol state machine, Dolev-Yao attacker, exploration and proofs."""
