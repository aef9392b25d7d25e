"""m4d.generator"""
