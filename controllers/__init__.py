"""m4d.controllers"""
