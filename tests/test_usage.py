from anomalyagent.usage import Usage, add_usage, summarize_usage, usage_dict


def test_usage_adds_and_summarizes():
    table = {}
    add_usage(table, "QE", Usage(1, 10, 5, 0.5))
    add_usage(table, "QE", Usage(1, 10, 5, 0.25))
    add_usage(table, "policy", Usage(3, 100, 30, 1.0))
    data = usage_dict(table)
    assert data["QE"] == {"calls": 2, "prompt_tokens": 20, "completion_tokens": 10, "seconds": 0.75}
    assert Usage.from_dict(data["policy"]) == Usage(3, 100, 30, 1.0)
    summary = summarize_usage([data, data, None, {}])
    assert summary["samples"] == 2 and summary["total"]["calls"] == 10
    assert summary["per_sample"] == {"calls": 5.0, "tokens": 160.0, "seconds": 1.75}
