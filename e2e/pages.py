"""Reading a page the way a person (or a screen reader) does: by role and name."""


def nav_link(page, navigation, name):
    """The link called `name` in the navigation landmark called `navigation`."""
    return page.get_by_role("navigation", name=navigation).get_by_role(
        "link", name=name, exact=True
    )


def cell(row, column):
    """The cell of table `row` under the column header named `column`.

    Header names are compared as written (CSS may show them in capitals); a row's
    header cell (`<th scope="row">`) counts as a cell.
    """
    row.first.wait_for()  # the page showing the row, not the one before it
    table = row.locator("xpath=ancestor::table[1]")
    headers = table.get_by_role("columnheader").all_text_contents()
    names = [" ".join(h.split()).casefold() for h in headers]
    cells = row.get_by_role("cell").or_(row.get_by_role("rowheader"))
    return cells.nth(names.index(column.casefold()))
