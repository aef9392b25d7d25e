"""Client layers of the external governance systems: data catalogs and policy managers.

Each connector translates its system's answers into typed, taxonomy-validated values and its failures into
the project's error tree (temporary: requeue; permanent: status condition).
"""
