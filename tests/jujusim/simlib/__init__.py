"""jujusim: runs built Juju machine charms the way a Juju unit agent does.

Modules:
  model       on-disk model state (JSON under the model dir, guarded by flock)
  ops         the model's event logic: deploy, relate, leadership, hook queues,
              commit of a hook's relation changes (pure functions on the state)
  charmmeta   reading a charm's metadata.yaml / config.yaml / actions.yaml
  controller  the per-model agent process: runs queued hooks and actions in
              per-unit mount namespaces, tracks and kills processes
  nsexec      the first process inside a unit's mount namespace: bind mounts,
              then exec of the hook
  hooktools   the hook tools (config-get, relation-set, ...), one multi-call program
  systemd     systemctl / service and the per-service supervisor
  cli         the `jujusim` command line
"""
