"""A plugin CLI module, as a ``satchel.cli`` entry point names it (``toy_cli:greet``)."""

import click

NOT_A_COMMAND = 42


@click.command()
def greet():
    """Greet from a plugin."""
    click.echo("greetings")
