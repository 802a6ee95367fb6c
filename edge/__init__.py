"""The HTTP edge: SNS deliveries, Twilio callbacks, acknowledge links, iCal, health and metrics."""
