"""The public names of each module: a change here is a change to the package's interface."""
import importlib

import pytest

PUBLIC = {
    "errors": ["WorkbenchError", "ConfigError", "UnknownModelError", "PromptError", "VersionRefError",
              "PromptNotFoundError", "PromptFileError", "MissingVariableError", "DatasetError", "ProviderError",
              "ProviderTimeoutError", "RateLimitedError", "ProviderServerError", "InvalidRequestError",
              "TrackingError"],
    "config": ["SCHEMA", "ENV_ALIASES", "parse_bool", "bounded", "one_of", "text", "Settings", "find_root",
              "env_name", "load_settings", "tracking_uri"],
    "prompts": ["VERSION_RE", "TASK_RE", "PLACEHOLDER_RE", "Version", "PromptRef", "placeholders",
               "render_template", "Prompt", "parse_prompt_file", "list_tasks", "list_versions", "check_task",
               "load_prompt"],
    "datasets": ["Case", "InvalidCase", "Dataset", "parse_case", "load_dataset"],
    "providers": ["SMOLLM2_FILE", "Completion", "Provider", "echo_longest_paragraph", "FakeProvider", "smollm2_path",
                 "LocalProvider", "OpenAIProvider", "make_provider"],
    "cost": ["ENCODING_FAMILIES", "Price", "parse_price", "price_table", "price_for", "Cost", "call_cost",
            "base_model", "encoding_name", "TokenCount", "count_tokens", "count_chat"],
    "scoring": ["Embedder", "MiniLMEmbedder", "HashEmbedder", "similarities"],
    "stats": ["ScoreSummary", "summarize_scores", "percentile"],
    "evaluate": ["case_variables", "render_case", "EvalPlan", "plan_eval", "CaseRecord", "run_case", "call_all",
                "score_records", "EvalResult", "summarize_run", "run_plan", "run_sync", "plan_from_settings",
                "evaluate"],
    "tracking": ["clean_names", "store_lock", "interrupts_deferred", "store_errors", "mlflow_client",
                "experiment_id", "git_commit", "run_params", "run_metrics", "log_result", "TrackedRun",
                "check_artifacts", "close_failed", "keep_unlogged", "track_eval", "ui_command"],
    "cli": ["SUMMARY_COLUMNS", "FLAG_SETTINGS", "format_table", "shown_path", "cmd_prompts_list",
           "cmd_prompts_show", "plan_all", "summary_row", "cmd_eval", "cmd_ui", "add_prompts_commands",
           "positive_int", "port_number", "add_eval_command", "build_parser", "main"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    assert sorted(importlib.import_module(f"llmops_wb.{module}").__all__) == sorted(PUBLIC[module])
