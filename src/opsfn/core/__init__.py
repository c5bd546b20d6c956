"""The request path: detect, look up, bind, call, reply. Everything here runs in Lambda."""
