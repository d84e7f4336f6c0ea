"""The paper-reproduction scripts (train_scripts/reproduce_*.sh): syntax, dry-run plans, option errors,
and one script run for real on a tiny budget.

Dry runs print each sweep's plan (the sweep validates every run's flags) and must launch and write nothing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onpolicy.config import config_to_dict, parse_config

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "train_scripts"
SCRIPTS = sorted(p.name for p in SCRIPTS_DIR.glob("reproduce_*.sh") if p.name != "reproduce_lib.sh")
# Runs per sweep of each script's cpu-scale grid, in order (runtime benchmarks instead of sweeping).
CPU_SWEEP_RUNS = {
    "reproduce_agentmixer_sac.sh": [4],         # (agentmixer_sac, masac) x 2 seeds on HalfCheetah 6x1
    "reproduce_ail_vs_agentmixer.sh": [9, 9],   # (ail, agentmixer, mappo) x 3 seeds, climbing then predator-prey,
                                                # in the climbing and predator_prey reproductions' folders
    "reproduce_climbing.sh": [27, 3],           # 9 methods x 3 seeds, then agentmixer corr x 3 seeds
    "reproduce_igc_variants.sh": [10] * 11,     # agentmixer x 10 seeds per IGC variant on the passage game
                                                # (strict_warm, authors_warm are their base there: T = 1 is the default)
    "reproduce_mujoco.sh": [4],                 # (mappo, agentmixer) x 2 seeds on HalfCheetah 6x1
    "reproduce_passage.sh": [20, 20, 5, 5],     # (agentmixer, ail) x 10 seeds, 4 methods x 5, corr x 5, maven x 5
    "reproduce_pm_ablation.sh": [3, 3, 3],      # one sweep per Policy Modifier, 3 seeds each
    "reproduce_predator_prey.sh": [9],          # (mappo, agentmixer, ail) x 3 seeds at penalty -1
    "reproduce_runtime.sh": [],
    "reproduce_smacv2.sh": [4],                 # (mappo, agentmixer) x 2 seeds on SMAX smacv2_5_units
    "reproduce_trap_mechanism.sh": [3] * 7,     # agentmixer x seeds 1, 2, 4 per condition at penalty -1
}


def run_script(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(["bash", str(SCRIPTS_DIR / name), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_every_script_has_an_expected_plan():
    assert sorted(CPU_SWEEP_RUNS) == SCRIPTS


@pytest.mark.parametrize("name", [*SCRIPTS, "reproduce_lib.sh"])
def test_bash_syntax(name):
    result = subprocess.run(["bash", "-n", str(SCRIPTS_DIR / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_cpu_dry_run_prints_the_plan_and_writes_nothing(name, tmp_path):
    out = tmp_path / "out"
    result = run_script(name, "--dry_run", "--scale", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dry run:" in result.stdout
    planned = [int(n) for n in re.findall(r"^sweep: (\d+) runs", result.stdout, flags=re.M)]
    assert planned == CPU_SWEEP_RUNS[name]
    runs_dirs = [f"{tmp_path}/climbing/runs/", f"{tmp_path}/predator_prey/runs/"] \
        if name == "reproduce_ail_vs_agentmixer.sh" else [f"{out}/runs/"]
    assert sum(result.stdout.count(f"fresh    {d}") for d in runs_dirs) == sum(planned)
    if name == "reproduce_runtime.sh":
        assert "benchmarks/throughput.py" in result.stdout
    elif name == "reproduce_trap_mechanism.sh":
        assert "eval_scripts.trap_screen" in result.stdout and "eval_scripts.plot_curves" in result.stdout
    else:
        assert "eval_scripts.make_tables" in result.stdout and "eval_scripts.plot_curves" in result.stdout
    assert not any(tmp_path.iterdir()), f"a dry run wrote {sorted(tmp_path.rglob('*'))}"


def test_igc_variants_screen_shares_the_parity_runs_of_the_paper_methods(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PREDATOR_PREY_HOME": str(tmp_path / "pp")}
    result = subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_igc_variants.sh"), "--dry_run", "--scale", "screen",
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    variants = ["strict", "strict_warm", "authors_warm", "mode_preserving", "consistency10", "gumbel", "consistency1",
                "consistency0.1", "mode_preserving_warm_pm_warmup", "agent_ratio_warm", "mode_preserving_agent_ratio_warm",
                "strict_agent_ratio_warm"]
    experiments = re.findall(r"--experiment_name (\S+)", result.stdout)
    assert experiments == [e for p in ("-1", "0") for e in (f"parity_penalty{p}", *(f"parity_{v}_penalty{p}"
                                                                                      for v in variants))]
    # the authors' form and MAPPO (2 x 3 seeds) run in the predator-prey reproduction's folder, shared with it
    assert re.findall(r"^sweep: (\d+) runs", result.stdout, flags=re.M) == (["6"] + ["3"] * 12) * 2
    assert f"--runs_dir {tmp_path}/pp/runs --save_logs_to {tmp_path}/pp/run_logs --experiment_name parity_penalty-1 " \
        in result.stdout
    assert "--igc_consistency_coef 10" in result.stdout and "--pm_gumbel_noise" in result.stdout
    assert "parity_mode_preserving_warm_pm_warmup_penalty0 --algorithms agentmixer --env predator_prey --seeds 1-3 " \
           "--max_parallel 2 --penalty 0 --igc_mode_preserving --temperature_schedule constant --pm_warmup 0.3 --dry_run" \
        in result.stdout
    assert "parity_strict_warm_penalty-1 --algorithms agentmixer --env predator_prey --seeds 1-3 --max_parallel 2 " \
           "--penalty -1 --igc_strict --temperature_schedule constant --dry_run" in result.stdout
    # the goal's "2 % of the return range": the range spans every run of the paper's methods at that penalty
    assert rf"--range_runs {tmp_path}/pp/runs/\*/\*/\*/\*_penalty-1_seed\* --out {tmp_path}/o/summary_penalty-1" \
        in result.stdout
    # the control: the authors' IGC form (no IGC flag) at T = 1 throughout
    assert "parity_authors_warm_penalty0 --algorithms agentmixer --env predator_prey --seeds 1-3 --max_parallel 2 " \
           "--penalty 0 --temperature_schedule constant --dry_run" in result.stdout
    assert not any(tmp_path.iterdir())


def test_igc_variants_full_shares_climbing_parity_runs_and_runs_warm_variants_on_matrix_games_where_they_differ(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "PREDATOR_PREY_HOME": str(tmp_path / "pp"),
           "CLIMBING_HOME": str(tmp_path / "cl")}
    result = subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_igc_variants.sh"), "--dry_run", "--scale", "full",
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    climbing = [e for e in re.findall(r"--experiment_name (\S+)", result.stdout) if e.endswith("_climbing")]
    # strict_warm and authors_warm only change the temperature schedule, already constant on a matrix game
    assert climbing == [f"parity_{v}_climbing" for v in (
        "strict", "mode_preserving", "consistency10", "gumbel", "consistency1", "consistency0.1",
        "mode_preserving_warm_pm_warmup", "agent_ratio_warm", "mode_preserving_agent_ratio_warm",
        "strict_agent_ratio_warm")]
    # the authors' form on each matrix game is the climbing reproduction's parity run (same command, so the same runs)
    for game in ("climbing", "penalty_100"):
        assert f"--runs_dir {tmp_path}/cl/runs --save_logs_to {tmp_path}/cl/run_logs --experiment_name parity " \
               f"--algorithms agentmixer --env matrix --scenarios {game} --seeds 1-5 --eval_interval 1 " \
               "--num_env_steps 1000000 --dry_run" in result.stdout
        # and its table reads only that game's runs of the experiment, which spans every game
        assert rf"{tmp_path}/cl/runs/\*/{game}/agentmixer/parity_seed\* " in result.stdout
    # ... whose run dirs the climbing reproduction's own full grid plans too
    climbing_plan = subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_climbing.sh"), "--dry_run", "--scale", "full",
                                    "--out", str(tmp_path / "cl")], capture_output=True, text=True, env=env, timeout=60)
    assert climbing_plan.returncode == 0, climbing_plan.stderr
    authors_runs = set(re.findall(rf"fresh +({tmp_path}/cl/runs/\S+/agentmixer/parity_seed\d)", result.stdout))
    assert len(authors_runs) == 10  # climbing and penalty_100, 5 seeds each
    assert authors_runs <= set(re.findall(r"fresh +(\S+)", climbing_plan.stdout))
    assert "parity_mode_preserving_agent_ratio_warm_climbing --algorithms agentmixer --env matrix --scenarios climbing" \
        in result.stdout and "--igc_mode_preserving --no-joint_ratio --temperature_schedule constant --dry_run" \
        in result.stdout
    assert not any(tmp_path.iterdir())


def test_igc_variants_env_selects_a_subset_in_its_order_and_refuses_unknown_names(tmp_path):
    def dry_run(variants):
        env = {**os.environ, "PYTHON": sys.executable, "PREDATOR_PREY_HOME": str(tmp_path / "pp"),
               "IGC_VARIANTS": variants}
        return subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_igc_variants.sh"), "--dry_run", "--scale", "screen",
                               "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=60)
    result = dry_run("mode_preserving strict")
    assert result.returncode == 0, result.stderr
    assert re.findall(r"--experiment_name (\S+)", result.stdout) == [
        e for p in ("-1", "0") for e in (f"parity_penalty{p}", f"parity_mode_preserving_penalty{p}",
                                          f"parity_strict_penalty{p}")]
    result = dry_run("strict strickt")
    assert result.returncode == 2
    assert "IGC_VARIANTS: unknown variant 'strickt'; valid: strict strict_warm authors_warm mode_preserving" \
        in result.stderr
    assert not any(tmp_path.iterdir())


def test_agentmixer_sac_full_reads_the_ppo_runs_at_the_sac_budget_and_gives_ant_harls_ant_settings(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "MUJOCO_HOME": str(tmp_path / "mj"), "PPO_EXPERIMENT": "paper-cpu"}
    result = subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_agentmixer_sac.sh"), "--dry_run", "--scale", "full",
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    sweeps = re.findall(r"--experiment_name (\S+) .*--scenarios (\w+) .*--num_env_steps 1000000(.*) --dry_run",
                        result.stdout)
    assert sweeps == [("full_6x1", "HalfCheetah", ""), ("full_4x2", "Ant", " --n_step 5 --critic_lr 3e-4")]
    assert re.findall(r"^sweep: (\d+) runs", result.stdout, flags=re.M) == ["6", "6"]
    for robot, conf in (("HalfCheetah", "6x1"), ("Ant", "4x2")):
        table = next(line for line in result.stdout.splitlines() if f"--out {tmp_path}/o/table_{robot}" in line)
        assert f"{tmp_path}/mj/run_logs/mujoco/{robot}/mappo/paper-cpu_{conf}_seed" in table
        assert "--max_env_steps 1000000 --candidate agentmixer_sac" in table
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("scale, penalties", [("full", ["-1", "0", "-1.5"]), ("paper-cpu", ["-1", "0"])])
def test_predator_prey_paper_scales_stack_one_table_per_penalty(scale, penalties, tmp_path):
    result = run_script("reproduce_predator_prey.sh", "--dry_run", "--scale", scale, "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    # Per penalty: 9 methods x 5 seeds, then AgentMixer with the correlation device x 5 seeds.
    assert re.findall(r"^sweep: (\d+) runs", result.stdout, flags=re.M) == ["45", "5"] * len(penalties)
    experiments = re.findall(r"--experiment_name (\S+)", result.stdout)
    assert experiments == [e for p in penalties for e in (f"parity_penalty{p}", f"parity_corr_penalty{p}")]
    assert f"combine {' '.join(f'table_penalty{p}' for p in penalties)} into {tmp_path / 'o'}/table_{scale}.md" \
        in result.stdout
    assert "--candidate agentmixer:parity_penalty-1" in result.stdout


def test_trap_mechanism_changes_one_factor_at_a_time_at_t_1(tmp_path):
    result = run_script("reproduce_trap_mechanism.sh", "--dry_run", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    sweeps = [line for line in result.stdout.splitlines() if line.startswith("+ ") and "onpolicy.sweep" in line]
    assert len(sweeps) == 7
    assert all("--temperature_schedule constant --num_env_steps 300000" in line for line in sweeps)
    flags = {re.search(r"screen300k_(\w+)_penalty-1", line).group(1): (
        "--mixer_lr 1e-12" in line, "--no-joint_ratio" in line, "--igc_mode_preserving" in line, "--igc_strict" in line)
        for line in sweeps}
    assert flags == {"authors_warm": (False, False, False, False), "pm_frozen_warm": (True, False, False, False),
                     "agent_ratio_warm": (False, True, False, False),
                     "pm_frozen_agent_ratio_warm": (True, True, False, False),
                     "mode_preserving_warm": (False, False, True, False),
                     "mode_preserving_agent_ratio_warm": (False, True, True, False),
                     "strict_agent_ratio_warm": (False, True, False, True)}
    assert "--references mappo:parity_penalty-1 agentmixer:screen300k_authors_warm_penalty-1" in result.stdout
    bad = subprocess.run(["bash", str(SCRIPTS_DIR / "reproduce_trap_mechanism.sh"), "--dry_run"], capture_output=True,
                         text=True, env={**os.environ, "PYTHON": sys.executable, "TRAP_CONDITIONS": "pm_off"})
    assert bad.returncode == 2
    assert "unknown condition 'pm_off'; valid: authors_warm pm_frozen_warm" in bad.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_unknown_scale_names_the_valid_ones(name, tmp_path):
    result = run_script(name, "--scale", "gpu", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "'gpu'" in result.stderr and "full, cpu" in result.stderr
    assert ("paper-cpu" in result.stderr) == (name in ("reproduce_predator_prey.sh", "reproduce_mujoco.sh",
                                                       "reproduce_runtime.sh"))
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_an_error():
    result = run_script("reproduce_climbing.sh", "--seeds", "1")
    assert result.returncode == 2 and "unknown option '--seeds'" in result.stderr


def test_flags_after_double_dash_reach_the_sweep(tmp_path):
    out = tmp_path / "out"
    ok = run_script("reproduce_pm_ablation.sh", "--dry_run", "--out", str(out), "--", "--num_env_steps", "5000")
    assert ok.returncode == 0 and ok.stdout.count("--num_env_steps 5000") == 3
    bad = run_script("reproduce_pm_ablation.sh", "--dry_run", "--out", str(out), "--", "--no_such_flag", "1")
    assert bad.returncode != 0 and "no_such_flag" in bad.stderr
    assert not out.exists()


def test_a_script_runs_end_to_end_and_a_rerun_skips_finished_runs(tmp_path):
    out = tmp_path / "out"
    tiny = ["--", "--seeds", "1", "--num_env_steps", "2000", "--n_rollout_threads", "10", "--episode_length", "100"]
    first = run_script("reproduce_pm_ablation.sh", "--out", str(out), *tiny, timeout=300)
    assert first.returncode == 0, first.stderr
    assert (out / "table.md").read_text().count("| matrix/climbing | agentmixer:cpu_") == 3
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=SCRIPTS_DIR).stdout.strip()
    command = (out / "COMMAND.txt").read_text()
    assert f"# git rev-parse HEAD: {head}" in command and "--experiment_name cpu_hypernet" in command
    again = run_script("reproduce_pm_ablation.sh", "--out", str(out), *tiny, timeout=300)
    assert again.returncode == 0 and again.stdout.count("1 already finished") == 3
    assert (out / "COMMAND.txt").read_text().count("# pm_ablation, --scale cpu") == 2
    # --report_only on a fresh clone (committed logs, no runs/, one more seed asked for): tables, no training.
    subprocess.run(["rm", "-r", str(out / "runs"), str(out / "table.md")], check=True)
    report = run_script("reproduce_pm_ablation.sh", "--out", str(out), "--report_only", "--", "--seeds", "1-2",
                        *tiny[3:], timeout=300)
    assert report.returncode == 0, report.stderr
    assert "onpolicy.sweep" not in "".join(l for l in report.stdout.splitlines(True) if l.startswith("+ /"))
    assert not list((out / "runs").rglob("*seed2*"))
    assert (out / "table.md").read_text().count("| matrix/climbing | agentmixer:cpu_") == 3
    assert "# note: --report_only" in (out / "COMMAND.txt").read_text()


def test_a_script_trains_in_another_reproductions_folder_and_reuses_its_runs(tmp_path):
    """reproduce_ail_vs_agentmixer.sh reports runs of the climbing and predator_prey reproductions:
    they go to (and are found in) those folders, with their logs saved there for committing."""
    out = tmp_path / "ail_vs_agentmixer"
    tiny = ["--", "--seeds", "1", "--num_env_steps", "1000", "--n_rollout_threads", "10", "--episode_length", "100",
            "--ppo_epoch", "1", "--eval_episodes", "10"]
    first = run_script("reproduce_ail_vs_agentmixer.sh", "--out", str(out), *tiny, timeout=400)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for home, run in (("climbing", "matrix/climbing/ail/full_seed1"),
                      ("predator_prey", "predator_prey/default/mappo/cpu_penalty-1_seed1")):
        assert (tmp_path / home / "runs" / run / "checkpoint.pt").exists()
        assert sorted(p.name for p in (tmp_path / home / "run_logs" / run).iterdir()) == \
            ["config.json", "meta.json", "progress.csv"]
    assert not (out / "runs").exists()
    table = (out / "table.md").read_text()
    assert table.count("| matrix/climbing |") == 3 and table.count("| predator_prey/default |") == 3
    # A fresh clone: only the committed logs; the rerun finds every run finished and trains nothing.
    for home in ("climbing", "predator_prey"):
        subprocess.run(["rm", "-r", str(tmp_path / home / "runs")], check=True)
    again = run_script("reproduce_ail_vs_agentmixer.sh", "--out", str(out), *tiny, timeout=400)
    assert again.returncode == 0 and again.stdout.count("3 already finished") == 2, again.stdout[-3000:]


def test_report_only_skips_the_experiments_of_a_grid_not_reached_yet(tmp_path):
    """A paper-cpu grid stopped during penalty -1: its penalty-0 tables are skipped, not failures."""
    out = tmp_path / "predator_prey"
    committed = "predator_prey/default/mappo/paper_penalty-1_seed1"  # an earlier run, renamed as a parity one
    run = out / "run_logs/predator_prey/default/mappo/parity_penalty-1_seed1"
    shutil.copytree(SCRIPTS_DIR.parent / "results/reproduce/predator_prey/run_logs" / committed, run)
    config = config_to_dict(parse_config(["--env_name", "predator_prey", "--algorithm_name", "mappo", "--penalty", "-1",
                                          "--seed", "1", "--experiment_name", "parity_penalty-1"]))
    (run / "config.json").write_text(json.dumps(config))  # today's defaults, as a parity run has them
    report = run_script("reproduce_predator_prey.sh", "--scale", "paper-cpu", "--out", str(out), "--report_only",
                        timeout=120)
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    assert "skip table_penalty0: no finished runs yet" in report.stdout
    assert "| predator_prey/default | mappo:parity_penalty-1 | 1 |" in (out / "table_paper-cpu.md").read_text()
    assert not (out / "table_penalty0.md").exists()


def test_report_only_without_runs_of_the_scale_names_the_experiments_that_are_there(tmp_path):
    """The committed Climbing logs are --scale full runs (experiments full and full_corr of an earlier default,
    parity of today's): --report_only at another scale must fail and say so, not print skips and exit 0."""
    out = tmp_path / "climbing"
    committed = SCRIPTS_DIR.parent / "results/reproduce/climbing/run_logs"
    shutil.copytree(committed, out / "run_logs")
    experiments = sorted({run.name.rsplit("_seed", 1)[0] for run in committed.glob("*/*/*/*_seed*")})
    assert {"full", "full_corr"} <= set(experiments) and not any(e.startswith("cpu") for e in experiments)
    report = run_script("reproduce_climbing.sh", "--scale", "cpu", "--out", str(out), "--report_only", timeout=120)
    assert report.returncode == 2, report.stdout[-2000:] + report.stderr[-2000:]
    assert ("error: --report_only: no finished runs of --scale cpu in " + str(out / "runs") +
            f" (experiments there: {' '.join(experiments)})") in report.stderr


def test_runtime_paper_cpu_tabulates_the_committed_runs_without_benchmarking(tmp_path):
    result = run_script("reproduce_runtime.sh", "--scale", "paper-cpu", "--out", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "benchmarks/throughput.py" not in result.stdout
    table = (tmp_path / "table_runs.md").read_text()
    assert re.search(r"^\| matrix/climbing \| full \| 200,000 \| .* \(n=5, 1\.00×\) \|", table, flags=re.M)
    assert (tmp_path / "table_runs.tex").exists()


def test_climbing_full_scale_runs_the_authors_1m_budget_under_new_names(tmp_path):
    """Their Climbing scripts run 1M env steps; the parity reruns get experiment names of their own so the
    earlier 200k-step logs (experiments full, full_corr) stay beside them."""
    result = run_script("reproduce_climbing.sh", "--dry_run", "--scale", "full", "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    sweeps = [l for l in result.stdout.splitlines() if l.startswith("+ ") and "onpolicy.sweep" in l]
    assert len(sweeps) == 6 and all("--num_env_steps 1000000" in l for l in sweeps)
    assert re.findall(r"--experiment_name (\S+)", result.stdout) == ["parity", "parity_corr"] * 3
