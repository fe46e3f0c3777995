"""net/kafka"""
