"""Amazon SNS over HTTP(S): the message envelope, its signature and the signing certificates."""
