"""m4d.modules"""
