"""The public names of each module: a change here is a change to the package's interface."""
import importlib

import pytest

PUBLIC = {
    "errors": ["WorkbenchError", "ConfigError", "UnknownModelError", "PromptError", "VersionRefError",
               "PromptNotFoundError", "PromptFileError", "MissingVariableError", "DatasetError", "ProviderError",
               "ProviderTimeoutError", "RateLimitedError", "ProviderServerError", "InvalidRequestError",
               "TrackingError", "RunNotFoundError", "ReleaseError", "StageConflictError", "DeployError"],
    "config": ["SCHEMA", "ENV_ALIASES", "parse_bool", "bounded", "one_of", "text", "matching", "Settings",
               "find_root", "env_name", "load_settings", "tracking_uri"],
    "prompts": ["VERSION_RE", "TASK_RE", "PLACEHOLDER_RE", "Version", "PromptRef", "placeholders", "render_template",
                "Prompt", "parse_prompt_file", "list_tasks", "list_versions", "check_task", "load_prompt"],
    "datasets": ["Case", "InvalidCase", "Dataset", "parse_case", "load_dataset"],
    "providers": ["SMOLLM2_FILE", "Completion", "Provider", "echo_longest_paragraph", "FakeProvider", "smollm2_path",
                  "LocalProvider", "OpenAIProvider", "retry_after_s", "RetryPolicy", "call_with_retries",
                  "make_provider", "model_name"],
    "cost": ["ENCODING_FAMILIES", "SECONDS_PER_MONTH", "Price", "parse_price", "price_table", "price_for", "Cost",
             "call_cost", "base_model", "encoding_name", "TokenCount", "count_tokens", "count_chat", "CostEstimate",
             "estimate_cost"],
    "scoring": ["Embedder", "MiniLMEmbedder", "HashEmbedder", "similarities", "CachedEmbedder", "sentences",
                "repetition_free", "coherence", "OutputScores", "score_outputs"],
    "judge": ["METRICS", "parse_verdict", "Judge", "rubric_tasks", "judge_from_settings"],
    "calibration": ["LABEL_RANGES", "TARGETS", "Labelled", "load_labels", "ranks", "auc", "spearman", "Cut",
                    "best_cut", "calibrate"],
    "stats": ["ScoreSummary", "summarize_scores", "percentile", "CaseStats", "case_stats", "Estimate",
              "resample_weights", "bootstrap_ratio", "run_estimates", "Comparison", "verdict", "compare_paired",
              "simulate_gate"],
    "evaluate": ["METRIC_THRESHOLDS", "case_variables", "case_text", "render_case", "EvalPlan", "plan_eval",
                 "ResponseCache", "CaseRecord", "call_params", "run_case", "cached_answers", "call_all", "judge_all",
                 "score_records", "EvalResult", "summarize_run", "run_plan", "run_sync", "plan_from_settings",
                 "evaluate"],
    "report": ["METRICS", "COLUMNS", "HEADER", "per_case", "compare_tables", "gate_verdict", "comparison_rows",
               "text_table", "markdown_table", "plot_scores", "plot_paired", "plot_quality_cost"],
    "lint": ["SUSPICIOUS", "CONTEXT_WINDOWS", "JUDGE_VARIABLES", "Finding", "line_of", "check_braces",
             "check_variables", "check_latest", "check_settings_latest", "released_text", "check_base",
             "check_released", "context_window", "count_prompt", "lint_project", "lint_file", "check_context"],
    "tracking": ["clean_names", "store_lock", "interrupts_deferred", "store_errors", "mlflow_client", "experiment_id",
                 "git_commit", "run_params", "run_metrics", "log_result", "TrackedRun", "check_artifacts",
                 "close_failed", "keep_unlogged", "track_eval", "ui_command", "StoredRun", "runs_of", "find_run",
                 "load_run", "stored", "compare_runs", "log_comparison"],
    "registry": ["TAG", "STAGES", "release_lock", "registered_template", "Registered", "registered", "SyncReport",
                 "sync", "Stages", "read_stages", "write_stages", "move_stages", "describe"],
    "gate": ["RUNBOOK_PARAMETERS", "RunbookError", "runbook_parameters", "execute_runbook", "GateReport",
             "check_baseline", "production_run", "report_eval", "save_result", "past_output_tokens", "estimate",
             "changed_versions", "GateOutcome", "run_ci", "close_unfinished", "summary_markdown"],
    "release": ["RELEASES", "check_weight", "Split", "parse_split", "plan_promotion", "plan_rollback",
                "plan_end_canary", "Evidence", "evidence_for", "passing_run", "missing_evidence", "Move", "actor",
                "record_move", "history", "retag_runs", "promote", "rollback", "stage_report"],
    "cli": ["SUMMARY_COLUMNS", "RATE_UNITS", "FLAG_SETTINGS", "format_table", "shown_path", "cmd_prompts_list",
            "cmd_prompts_show", "plan_all", "summary_row", "cmd_eval", "cmd_eval_compare", "cmd_lint", "request_rate",
            "cmd_cost_estimate", "cmd_ci", "cmd_prompts_sync", "cmd_promote", "cmd_rollback", "cmd_stages",
            "cmd_deploy_render", "cmd_ui", "add_prompts_commands", "positive_int", "port_number", "add_eval_command",
            "add_gate_commands", "add_release_commands", "add_deploy_command", "build_parser", "main"],
    "deploy": ["TaskRelease", "alert_rules", "containerfile", "render", "write", "task_release",
               "releases_from_registry"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    assert sorted(importlib.import_module(f"llmops_wb.{module}").__all__) == sorted(PUBLIC[module])
