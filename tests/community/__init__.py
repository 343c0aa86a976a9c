"""Tests of the witnessing community over a real Mosquitto broker and Home Assistant's MQTT."""
