"""The published feeds of the watch: a CAP 1.2 document per alert (:mod:`.cap`), an Atom
feed of them (:mod:`.atom`) and a GeoJSON map of every target's level (:mod:`.geojson`).

Pure builders over the plain records of :mod:`.records`: no database, clock or files
(``monitor/service/feeds.py`` reads the store and writes the files). Every text says the
notices are automated deformation notices from satellite radar, never an official volcano
alert level (observatories alone issue those; :mod:`.wording`).
"""
