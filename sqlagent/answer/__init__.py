"""What an answer is made of besides its rows: the bounded summary the model narrates from
(``summarize``), a chart chosen from the result's shape (``charts``) and exports (``export``)."""
