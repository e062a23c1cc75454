from charms.reactive import Endpoint


class RtestProvides(Endpoint):
    def publish(self, greeting, unit, leader):
        for relation in self.relations:
            relation.to_publish_raw["greeting"] = greeting
            relation.to_publish["info"] = {"unit": unit}
            if leader:
                relation.to_publish_app_raw["app-greeting"] = greeting
