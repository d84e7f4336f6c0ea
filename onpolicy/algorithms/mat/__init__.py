"""MAT and MAT-Dec (Wen et al., 2022): transformer baselines that see all agents' observations."""
