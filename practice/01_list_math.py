"""Practice for Lesson 01 — Python lists: the baseline for every speed-up.

Write list_multiply, sum_of_squares: each stub says what to compute, with shapes
and dtypes. Check your work with

    make practice LESSON=01
    python -m trinity_foundations.practice 01 NAME      (one exercise)
    python -m trinity_foundations.practice --hint NAME

`git checkout practice/01_list_math.py` gives you the stubs back.
"""


def list_multiply(a, b):
    """The element-wise product of two lists of floats, as a new list.

    Args:
      a, b: lists of N Python floats each.
    Returns:
      a list of N floats, a[i] * b[i]; a and b are left unchanged.
    """
    raise NotImplementedError


def sum_of_squares(n):
    """1² + 2² + … + n², the sum of the products the lesson multiplies, exactly.

    Use the closed form n(n + 1)(2n + 1)/6 rather than a loop, and keep it
    an exact Python int: a float cannot hold every integer past 2**53.

    Args:
      n: an int >= 0 (up to 10**15 and beyond).
    Returns:
      an int.
    """
    raise NotImplementedError
