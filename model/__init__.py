"""edbp.model: the abstract protocol state machine, Dolev-Yao attacker, exploration and proofs.

Public entry points: ``check.run`` (what ``edbp model check`` runs), ``explore.explore`` and
``profiles.EDBP`` / ``profiles.BLUEPRINT`` (the explorer and its inputs), ``downgrade.PROFILE``
(P14's suite-negotiation sub-model), ``proofs.prove`` (z3),
``flaws.FLAWS`` (seeded flaws), ``attacks.ATTACKS`` (the blueprint's expected attacks),
``driver.ModelDriver`` (stepping the model from a test harness) and ``lockstep.make_machine``
(model-based testing of an implementation). Submodules import lazily so that ``edbp --help``
stays fast.
"""
