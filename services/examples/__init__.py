"""services/examples"""
