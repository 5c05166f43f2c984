"""Every registered model, built-in or plug-in, against the public contract suite."""

from causality.testing import parametrize_with_checks


@parametrize_with_checks()
def test_model_honours_contract(model, check):
    check(model)
