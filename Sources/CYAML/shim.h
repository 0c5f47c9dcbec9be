#ifndef KUBECONFIG_SERVICE_CYAML_SHIM_H
#define KUBECONFIG_SERVICE_CYAML_SHIM_H

// libyaml, the reference YAML 1.1 parser and emitter (Debian: libyaml-dev), through pkg-config's
// yaml-0.1. Only the YAML module imports it.
#include <yaml.h>

#endif
