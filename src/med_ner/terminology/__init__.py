"""Medical vocabularies from installed PyPI packages: term lists, a token matcher and linking."""
