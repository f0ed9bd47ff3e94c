"""The public names of each module: a change here is a change to the package's interface."""
import importlib

import pytest

PUBLIC = {
    "errors": ["WorkbenchError", "ConfigError", "UnknownModelError", "PromptError", "VersionRefError",
               "PromptNotFoundError", "PromptFileError", "MissingVariableError", "DatasetError", "ProviderError",
               "ProviderTimeoutError", "RateLimitedError", "ProviderServerError", "InvalidRequestError", "TrackingError"],
    "config": ["parse_bool", "bounded", "one_of", "text", "SCHEMA", "Settings", "find_root", "ENV_ALIASES",
               "load_settings", "tracking_uri"],
    "prompts": ["VERSION_RE", "Version", "TASK_RE", "PromptRef", "PLACEHOLDER_RE", "placeholders", "render_template",
                "Prompt", "parse_prompt_file", "list_tasks", "list_versions", "load_prompt"],
    "datasets": ["Case", "InvalidCase", "Dataset", "parse_case", "load_dataset"],
    "providers": ["Completion", "Provider", "echo_longest_paragraph", "FakeProvider", "SMOLLM2_FILE", "smollm2_path",
                  "LocalProvider", "OpenAIProvider", "make_provider"],
    "cost": ["Price", "parse_price", "price_table", "price_for", "Cost", "call_cost", "ENCODING_FAMILIES", "base_model",
             "encoding_name", "TokenCount", "count_tokens", "count_chat"],
    "scoring": ["Embedder", "MiniLMEmbedder", "HashEmbedder", "similarities"],
    "stats": ["ScoreSummary", "summarize_scores", "percentile"],
    "evaluate": ["case_variables", "render_case", "EvalPlan", "plan_eval", "CaseRecord", "run_case", "call_all",
                 "score_records", "EvalResult", "summarize_run", "run_plan", "run_sync", "plan_from_settings", "evaluate"],
    "tracking": ["clean_names", "mlflow_client", "experiment_id", "git_commit", "run_params", "run_metrics", "log_result",
                 "TrackedRun", "track_eval", "ui_command"],
    "cli": ["format_table", "cmd_prompts_list", "cmd_prompts_show", "plan_all", "SUMMARY_COLUMNS", "summary_row",
            "cmd_eval", "cmd_ui", "add_prompts_commands", "add_eval_command", "build_parser", "FLAG_SETTINGS", "main"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module):
    assert sorted(importlib.import_module(f"llmops_wb.{module}").__all__) == sorted(PUBLIC[module])
