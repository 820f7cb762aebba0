"""The callcircle vocabulary: OWL/RDFS terms, SHACL shapes and namespace constants."""
