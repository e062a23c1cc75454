from charms.reactive import Endpoint


class RtestRequires(Endpoint):
    def seen(self):
        units = {u.unit_name: dict(u.received_raw) for u in self.all_joined_units}
        apps = [dict(r.received_app_raw) for r in self.relations]
        return units, apps
